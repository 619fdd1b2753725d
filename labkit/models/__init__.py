"""Model builders that return ready modules on the chosen device."""
from labkit.models.cnn import conv_output_size, lenet, small_cnn
from labkit.models.mlp import ACTIVATIONS, activation_layer, mlp

__all__ = ["ACTIVATIONS", "activation_layer", "conv_output_size", "lenet", "mlp", "small_cnn"]
