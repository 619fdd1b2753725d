"""Model builders that return ready modules on the chosen device."""
from labkit.models.bert import BertClassifier, BertConfig, BertForMaskedLM, Encoder, bert
from labkit.models.cnn import conv_output_size, lenet, small_cnn
from labkit.models.gan import GAN, check_gan, gan
from labkit.models.mlp import ACTIVATIONS, activation_layer, mlp
from labkit.models.vae import VAE, vae

__all__ = ["ACTIVATIONS", "BertClassifier", "BertConfig", "BertForMaskedLM", "Encoder", "GAN", "VAE", "bert", "activation_layer", "check_gan", "conv_output_size", "gan", "lenet", "mlp",
           "small_cnn", "vae"]
