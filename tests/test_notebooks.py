"""Every lab, executed with papermill in smoke mode through the runner; its metrics checked; then
the course site built from those executed labs, checked for pages, figures, links and leaks, and
read in Chromium.

Each lab must have an entry in EXPECTATIONS: a new lab without one fails this test on purpose.
(nbval runs the same notebooks separately: `--nbval-lax` over notebooks/, see pyproject.toml.)
"""
import functools
import html
import http.server
import math
import re
import threading
import time
from pathlib import Path

import nbformat
import pytest

from conftest import REPO
from labkit.runner import discover, run_curriculum


def _setup(m):
    assert m["torch_version"]
    assert m["matmul_gflops"] > 0.1


def _linear_regression(m):
    # Recovered raw-unit weights vs the truth, in standard errors: seed-independent (> 4 would
    # mean a bug, not bad luck); and the optimiser must reach the closed-form solution.
    assert m["weight_error_se"] < 4
    assert m["weight_rel_error"] < 0.1 and m["closed_form_weight_rel_error"] < 0.1
    assert m["fit_vs_closed_form"] < 0.3
    # The training MSE sits at the noise variance (20² = 400) and never below the closed form's.
    assert 300 < m["final_loss"] < 500
    assert m["final_loss"] >= m["closed_form_loss"] - 1e-3
    # Numerical verifications: the hand gradient vs autograd and finite differences, the normal
    # equations, and gradient descent written three ways (by hand, autograd, torch.optim).
    assert m["gradient_vs_autograd"] < 1e-12 and m["gradient_vs_finite_differences"] < 1e-7
    assert m["normal_equations_residual"] < 1e-10
    assert m["autograd_gd_vs_hand"] < 1e-9 and m["optim_gd_vs_hand"] < 1e-9
    assert m["gd_standardised_vs_closed_form"] < 1e-6
    # Normalisation: κ(H) of a few 1e5 on raw features, about a dozen once standardised.
    assert m["raw_condition_number"] > 1e4 and m["standardised_condition_number"] < 50
    # The race (run with exercise 4's sgd_fit): batch GD far behind; SGD with B = 1 hovers in a
    # band that minibatch GD is already below after the race and far below with 10x the epochs.
    assert m["race_minibatch_excess"] < m["race_sgd_band"] < m["race_batch_gd_excess"]
    assert m["race_minibatch_long_excess"] < 0.1 * m["race_sgd_band"]
    # Going deeper: in float32 lstsq beats the normal equations, by at most about κ(X̃).
    assert m["lstsq_f32_error"] < m["normal_equations_f32_error"]
    assert 1 < m["normal_equations_vs_lstsq_gap"] < m["condition_number_X"]
    # Ridge: λ chosen on validation (λ = 0 is a candidate, so never worse there); |w| never grows.
    assert m["ridge_best_lambda"] >= 0 and m["ridge_val_mse"] <= m["ols_val_mse"] + 1e-9
    assert m["ridge_norm_never_grows"] is True
    # The test set, touched once: MSE near σ² = 400, inside its own 95 % interval; ridge close.
    assert m["test_mse_ci_low"] < m["test_mse"] < m["test_mse_ci_high"]
    assert 300 < m["test_mse"] < 500 and abs(m["ridge_test_mse"] - m["test_mse"]) < 0.1 * m["test_mse"]


def _mlp_backprop(m):
    assert m["gradcheck_rel_error"] < 1e-6          # hand-written backprop vs finite differences/autograd
    assert 1e-7 < m["fd_best_eps"] < 1e-4            # truncation and rounding balance near u^(1/3) ≈ 5e-6
    assert m["xor_final_loss"] < 0.1
    assert m["two_class_accuracy"] > 0.8
    assert 0.1 < m["he_grad_norm_ratio"] < 10        # He + ReLU: first/last hidden layer gradient within 10x
    assert m["naive_grad_norm_ratio"] < 1e-6         # N(0, 0.01²) + ReLU: vanishing
    assert m["exploding_grad_norm_ratio"] > 1e6      # N(0, 1) + ReLU: exploding
    assert abs(m["relu_balancing_gain"] / 2 ** 0.5 - 1) < 0.1
    assert m["adam_max_abs_diff"] < 1e-6             # Adam by hand vs torch.optim.Adam, 25 steps, weight decay
    assert m["mnist_test_accuracy"] > 0.85 and m["mnist_macro_f1"] > 0.8
    assert m["mnist_test_ci_low"] < m["mnist_test_accuracy"] < m["mnist_test_ci_high"]
    assert m["mnist_test_ci_high"] - m["mnist_test_ci_low"] < 0.06
    assert abs(m["wilson_coverage"] - 0.95) < 0.015
    assert m["mnist_best_epoch"] >= 1
    assert abs(m["dropout_zero_fraction"] - 0.3) < 0.005 and abs(m["torch_dropout_zero_fraction"] - 0.3) < 0.005
    assert abs(m["dropout_mean_ratio"] - 1) < 0.005
    assert m["regularised_gap"] < m["overfit_gap"]
    assert m["ablation_held_out_loss_weight_decay"] < m["ablation_held_out_loss_none"]   # less over-confident


def _cnn(m):
    assert m["conv_max_abs_diff"] < 1e-5                   # loops / unfold vs nn.Conv2d
    assert m["sobel_max_abs_diff"] < 1e-10                 # F.conv2d Sobel vs scipy and a hand sum
    assert m["bn_max_abs_diff_train"] < 1e-5 and m["bn_max_abs_diff_eval"] < 1e-5
    assert m["resblock_identity_max_abs_diff"] == 0        # residual block with F = 0 is ReLU(x)
    assert m["lenet_val_accuracy"] > 0.75 and m["cnn_val_accuracy"] > 0.85 and m["resnet_val_accuracy"] > 0.85
    assert m["cnn_no_bn_val_accuracy"] > 0.7 and m["augmented_val_accuracy"] > 0.8
    assert m["augmented_shifted_val_accuracy"] > m["cnn_shifted_val_accuracy"]   # augmentation buys shift robustness
    assert m["cnn_test_accuracy"] > 0.85
    assert m["cnn_test_ci_low"] < m["cnn_test_accuracy"] < m["cnn_test_ci_high"] <= 1
    assert m["cnn_test_ci_high"] - m["cnn_test_ci_low"] < 0.06                   # 1,000 test digits
    assert m["final_epochs"] >= 1 and m["final_model"] in {
        "LeNet-5", "small CNN", "small CNN without BN", "small ResNet", "small CNN + augmentation"}
    assert m["cnn_params"] > 0 and m["resnet_params"] > 0 and m["cnn_images_per_s"] > 0


def _vae(m):
    assert m["kl_mc_rel_error"] < 0.02 and m["kl_known_value_error"] < 1e-9      # closed-form KL vs Monte Carlo, known values
    assert 6 < m["score_vs_reparam_variance_ratio"] < 9                            # theory: 7.5
    assert m["bernoulli_nll_max_abs_diff"] < 1e-9 and m["cb_log_normaliser_max_abs_diff"] < 1e-6
    assert m["classifier_val_accuracy"] > 0.85
    assert m["ae_val_recon"] < 120 and m["conv_ae_val_recon"] < 180
    assert m["mlp_vae_val_neg_elbo"] < 150 and m["conv_vae_val_neg_elbo"] < 190 and m["vae2d_val_neg_elbo"] < 200
    # the articles' model fails in numbers, beside the same VAE trained the same way
    assert m["articles_val_neg_elbo"] > 1.5 * m["vae_val_neg_elbo"] and m["articles_val_kl"] > 2 * m["vae_val_kl"]
    assert m["articles_code_fd_to_prior"] > 5 * m["vae_code_fd_to_prior"]
    assert m["ae_code_fd_to_prior"] > 5 * m["vae_code_fd_to_prior"]
    assert m["articles_prior_fd"] > 1.3 * m["vae_prior_fd"] > m["real_digits_fd"]
    # the beta trade-off: more weight on KL buys a smaller KL at the price of reconstruction
    assert m["beta4_val_recon"] > m["beta1_val_recon"] and m["beta4_val_kl"] < m["beta1_val_kl"]
    assert m["beta1_val_neg_elbo"] < m["beta4_val_neg_elbo"]
    # the test digits, once: the importance-sampled bound lies above the ELBO
    assert m["final_model"] in {"MLP VAE", "convolutional VAE"}
    assert 60 < m["test_neg_elbo"] < 160 and m["elbo_gap"] > 0
    assert m["test_log_likelihood"] > -m["test_neg_elbo"]


def _gan(m):
    assert m["optimal_d_max_abs_diff"] < 1e-8 and m["optimal_d_js_error"] < 1e-12      # D* and -log 4 + 2 JS
    assert abs(m["saturating_grad_ratio"] - 0.001 / 0.999) < 1e-8                      # D/(1-D) at D(G(z)) = 0.001
    assert m["loss_max_abs_diff"] < 1e-4                                               # exercise losses vs labkit.adversarial
    assert m["articles_generator_max"] < math.log(2) + 1e-6 and m["mnist_pixels_above_log2"] > 0.3
    assert m["prob_difference_tv_error"] < 5e-3 and m["prob_difference_d_star_gap"] > 0.3
    assert m["ring_data_high_quality"] > 0.97
    assert m["articles_ring_modes_covered"] == 0 and m["articles_ring_high_quality"] == 0
    assert m["articles_ring_mean_distance"] > 0.9 and m["ring_mean_distance"] < 0.5
    assert m["ring_remedy_modes_covered"] >= 6 and m["ring_remedy_high_quality"] > 0.4 and m["ring_modes_covered"] >= 6
    assert m["fd_monte_carlo_rel_error"] < 0.02 and m["fd_exercise_vs_labkit"] < 1e-8
    assert m["classifier_val_accuracy"] > 0.85
    assert m["fd_floor"] < m["fd_dcgan"] < m["fd_untrained"] and m["fd_ratio_to_untrained"] < 0.25
    assert m["noise_class_share_min"] < 0.04 and m["class_share_min"] > 0.01     # noise fails the class check
    assert 0.1 < m["mean_confidence"] <= 1
    assert m["dcgan_best_epoch"] >= 1 and 0 < m["dcgan_final_d_fake"] < m["dcgan_final_d_real"] < 1


def _text_attention(m):
    # Numerical verifications: from-scratch attention / MHA vs torch, and the exact properties.
    assert m["sdpa_max_abs_diff_padding"] < 1e-5 and m["sdpa_max_abs_diff_causal"] < 1e-5
    assert m["mha_max_abs_diff"] < 1e-5                     # vs nn.MultiheadAttention, copied weights
    assert m["permutation_equivariance_diff"] < 1e-5        # attention without positions
    assert m["sinusoidal_offset_max_abs_diff"] < 1e-5       # p_(t+k) = R_k p_t
    assert m["packed_alone_vs_batch_diff"] < 1e-5 < 1e-2 < m["last_step_alone_vs_batch_diff"]
    assert m["packed_prediction_changes"] == 0              # packed LSTM: batching never changes a prediction
    assert m["articles_residual_noop_diff"] < 1e-5          # LN(a + a) = LN(a) (eps = 0)
    assert m["cross_first_context_diff"] < 1e-6 < 1e-4 < m["self_first_context_diff"]
    # sqrt(d_k): Var(q.k) = d_k unscaled, 1 scaled; the unscaled softmax saturates and loses gradient
    assert 0.85 < m["score_variance_unscaled_1024"] / 1024 < 1.15 and m["score_variance_scaled_max_deviation"] < 0.15
    assert m["softmax_max_weight_unscaled"] > 0.8 and m["softmax_gradient_ratio"] > 1.5
    # The articles' exp(softmax(QK^T))/sqrt(d_k) V: rows do not sum to 1, weights within a factor e, padding leaks
    assert m["articles_row_sum_error"] > 1 and m["articles_weight_ratio"] <= math.e + 1e-4
    assert m["articles_padding_weight"] > 0.5
    assert m["lookup_accuracy_correct"] > 0.9 and m["lookup_accuracy_articles"] < m["lookup_accuracy_correct"] - 0.2
    # The articles' residual forgets the input; the pre-LN block keeps it
    assert m["pre_ln_input_output_cosine"] > 0.8 and abs(m["articles_input_output_cosine"]) < 0.3
    # Text preparation
    assert 0 < m["word_oov_rate"] < 0.1
    assert m["padding_fraction_grouped"] < 0.5 * m["padding_fraction_random"]
    # Baselines and models (validation), then the test set once with Wilson intervals
    assert m["bow_val_accuracy"] > m["majority_val_accuracy"] + 0.2
    assert m["lstm_val_accuracy"] > m["majority_val_accuracy"] + 0.05
    assert m["transformer_val_accuracy"] > m["majority_val_accuracy"] + 0.15
    assert m["articles_residual_val_accuracy"] < m["transformer_val_accuracy"]
    assert 0.8 < m["transformer_parameters"] / m["lstm_parameters"] < 1.5        # similar size
    for model in ("lstm", "transformer"):
        assert m[f"{model}_test_ci_low"] < m[f"{model}_test_accuracy"] < m[f"{model}_test_ci_high"]
    assert m["transformer_test_accuracy"] > m["majority_test_accuracy"] + 0.1
    assert m["bow_test_accuracy"] > m["majority_test_accuracy"]


def _bert_pretraining(m):
    # tokenizer: our greedy WordPiece = the library's; exact round trip; few tokens per word
    assert m["wordpiece_scratch_agreement"] > 0.999
    assert m["roundtrip_share"] > 0.95 and m["decode_share"] > 0.95 and m["unk_rate"] < 0.01
    assert 1 < m["tokens_per_word"] < 2
    # BERT masking: every share within 4.5 standard errors, specials never chosen
    assert abs(m["mask_chosen_share"] - 0.15) < 0.005 and m["mask_specials_chosen"] == 0
    assert max(abs(m[k]) for k in ("mask_z_chosen", "mask_z_mask", "mask_z_random", "mask_z_unchanged")) < 4.5
    # encoder: tied weights, attention by hand vs SDPA, padding invariance, the head on masked rows only
    assert m["tied_weights"] is True and 0 < m["tying_saved_params"] < m["bert_params"]
    assert m["attention_vs_sdpa_max_abs_diff"] < 1e-5 and m["padding_invariance_max_abs_diff"] < 1e-5
    assert 0.08 < m["masked_position_share"] < 0.15 and m["head_time_ratio_all_vs_masked"] > 1
    # pretraining beats the unigram baseline on held-out text; perplexity = exp(loss)
    assert m["mlm_val_loss"] < m["unigram_loss"] and m["mlm_val_accuracy"] > m["unigram_accuracy"] + 0.02
    assert math.isclose(m["mlm_val_perplexity"], math.exp(m["mlm_val_loss"]), rel_tol=1e-6)
    assert m["schedule_vs_exercise"] < 1e-12                     # exercise 3 = the schedule used
    # FLOPs: FlopCounterMode vs 6N + attention + head; MFU only where a GPU peak is known
    assert 0.95 < m["flops_vs_6n_estimate"] < 1.05 and m["flops_per_step"] > 0
    assert m["train_tokens_per_s"] > 0 and m["step_tokens_per_s"] > 0 and ("mfu" not in m or 0 < m["mfu"] < 1)
    # fine-tuning, pretrained vs scratch at the same budget over seeds; the test documents once
    assert m["bow_val_accuracy"] > m["majority_val_accuracy"] + 0.1
    assert m["finetune_scratch_val_accuracy"] > m["majority_val_accuracy"] + 0.1
    assert m["finetune_pretrained_val_accuracy"] > m["majority_val_accuracy"]
    assert m["finetune_seeds"] >= 2 and m["final_init"] in {"pretrained", "scratch"}
    assert m["test_ci_low"] < m["test_accuracy"] < m["test_ci_high"] and m["test_ci_high"] - m["test_ci_low"] < 0.15
    assert m["uniform_attention"] > 0 and m["max_previous_token_attention"] > 0


def _efficiency(m):
    full = m["mode"] == "full"
    # measuring: the profile, FLOP formulas vs torch's counter (exact), the roofline's ingredients
    assert m["profile_step_ms"] > 0 and m["profile_ops"] > 10 and m["profile_top_category"] == "convolution"
    assert m["flops_formula_vs_counter"] == 0 and m["peak_gflops"] >= m["matmul_gflops"] > 0.5
    assert m["bandwidth_gbs"] > 0.5 and m["ridge_intensity"] > 0
    assert m["relu_intensity"] == 0.125 and m["conv_intensity_max"] > 10 * m["relu_intensity"]
    assert m["batch1_per_image_ratio_cpu"] > 0 and m["batch1_per_image_ratio_cpu_narrow"] > 0
    assert 0 < m["maxpool_fraction_of_bandwidth"] and m["maxpool_channels_last_speedup"] > 0
    assert m["forward_channels_last_speedup"] > 0 and m["cnn_fusion_speedup"] > 0
    # number formats and loss scaling: exact facts, then the GradScaler's bookkeeping
    assert m["bf16_one_plus_2_pow_minus_8"] == 1.0 and m["fp16_70000_is_inf"] is True and m["fp16_1e-8"] == 0.0
    assert m["fp16_unscaled_zero_share"] > 0.9 and m["fp16_scaled_grad_rel_error"] < 1e-2
    assert m["grad_scaler_skips_overflow"] is True
    # the same trained weights classify alike in fp32, bf16 and fp16
    assert abs(m["inference_bf16_val_accuracy"] - m["inference_fp32_val_accuracy"]) < 0.02
    assert abs(m["inference_fp16_val_accuracy"] - m["inference_fp32_val_accuracy"]) < 0.02
    assert m["teacher_val_accuracy"] > (0.97 if full else 0.8)
    # pruning: the exercise's mask is the library's; dense storage does not shrink, gzip does
    assert m["magnitude_mask_vs_prune_mismatches"] == 0
    assert 0 <= m["pruned_chosen_sparsity"] < 1 and m["pruned_val_accuracy_98"] < m["teacher_val_accuracy"]
    assert m["pruned_val_accuracy_no_finetune"] >= m["teacher_val_accuracy"] - 0.005 - 1e-9
    assert abs(m["pruned_size_ratio"] - 1) < 0.02 and m["pruned_val_accuracy"] > m["teacher_val_accuracy"] - 0.05
    assert m["pruned_gzip_ratio"] < 1 or m["pruned_chosen_sparsity"] == 0
    assert m["pruned_nonzero_params"] <= m["teacher_params"]
    # structured pruning: an exact rebuild with every channel kept; half the channels, a quarter of the FLOPs
    assert m["channel_rebuild_max_abs_diff"] < 1e-4 and 0.2 < m["thin_flops_ratio"] < 0.35
    assert m["thin_params"] < 0.5 * m["teacher_params"] and m["thin_val_accuracy"] > (0.95 if full else 0.7)
    # quantisation: the by-hand quantiser agrees with torch's; s/2 bound and s^2/12 noise; int8 models as accurate
    assert m["by_hand_scale_rel_diff"] < 1e-6 and m["by_hand_int_mismatches"] < 10
    assert m["by_hand_max_error_over_half_scale"] <= 1 + 1e-4 and 0.9 < m["by_hand_mse_over_uniform"] < 1.1
    assert m["layer_snr_db_int8_weights"] > 25
    assert abs(m["mlp_int8_val_accuracy"] - m["mlp_val_accuracy"]) <= (0.005 if full else 0.02)
    assert abs(m["cnn_int8_val_accuracy"] - m["teacher_val_accuracy"]) <= (0.01 if full else 0.03)
    assert 0.2 < m["mlp_int8_size_ratio"] < 0.35 and 0.2 < m["cnn_int8_size_ratio"] < 0.4
    assert m["mlp_int8_speedup"] > 0 and m["cnn_int8_speedup"] > 0
    # distillation: the T^2 factor checked with autograd; the exercise's loss is labkit's
    assert m["t2_gradient_formula_rel_error"] < 1e-10 and abs(m["t2_scaled_norm_ratio_32_vs_8"] - 1) < 0.1
    assert m["t2_limit_rel_error"] < 0.05 and m["distillation_loss_vs_labkit"] < 1e-5
    assert m["student_param_ratio"] >= (10 if full else 5) and m["distillation_seeds"] >= (3 if full else 2)
    for key in ("teacher", "distilled", "alone", "alone_shifts"):
        assert 0.1 < m[f"{key}_val_accuracy_mean"] <= 1 and m[f"{key}_val_accuracy_std"] >= 0
    if full:   # the claims of section 6, over three seeds
        assert m["distillation_gain"] > 0
        assert m["distilled_val_accuracy_mean"] >= m["teacher_val_accuracy_mean"] - 0.01
    # export: the loaded program computes what the model computes
    assert m["export_max_abs_diff"] < 1e-4 and m["export_file_bytes"] < 1e6
    # the closing table, on the test digits once: every accuracy inside its Wilson interval
    for key in ("teacher", "teacher_bf16", "pruned", "thin", "teacher_int8", "mlp", "mlp_int8", "student_alone",
                "student", "student_int8", "student_exported"):
        assert m[f"test_ci_low_{key}"] < m[f"test_accuracy_{key}"] < m[f"test_ci_high_{key}"] <= 1
        assert m[f"cpu_latency_ms_{key}"] > 0 and m[f"size_bytes_{key}"] > 0
    assert m["test_accuracy_teacher"] > (0.96 if full else 0.8)
    assert m["test_accuracy_student_exported"] == m["test_accuracy_student"]
    assert m["size_bytes_student"] < m["size_bytes_teacher"] / 3 and m["size_bytes_teacher_int8"] < m["size_bytes_teacher"] / 2


EXPECTATIONS = {"00_setup": _setup, "01_linear_regression": _linear_regression, "02_mlp_backprop": _mlp_backprop,
                "03_cnn": _cnn, "04_vae": _vae, "05_gan": _gan,
                "06_text_attention": _text_attention, "07_bert_pretraining": _bert_pretraining,
                "08_efficiency": _efficiency}


@pytest.fixture(scope="module")
def smoke_build(tmp_path_factory):
    """The folder `labkit run --mode smoke` wrote (executed labs, report.json) and its results."""
    out = tmp_path_factory.mktemp("build")
    results = run_curriculum(mode="smoke", notebooks=str(REPO / "notebooks"), out=str(out), progress=False)
    return out, {r.name: r for r in results}


@pytest.fixture(scope="module")
def smoke_run(smoke_build):
    return smoke_build[1]


@pytest.mark.parametrize("lab", [p.stem for p in discover(REPO / "notebooks")])
def test_lab_runs_in_smoke_mode_and_publishes_sound_metrics(smoke_run, lab):
    result = smoke_run[lab]
    assert result.status == "ok", result.error
    assert lab in EXPECTATIONS, f"add the metrics {lab} records to EXPECTATIONS"
    assert all(not isinstance(v, float) or math.isfinite(v) for v in result.metrics.values())
    EXPECTATIONS[lab](result.metrics)


# -- the course site, built from the executed labs above ------------------------------------------

LABS = [p.stem for p in discover(REPO / "notebooks")]
SITE_SHOTS = REPO / "build" / "book-browser"
IMAGE_TYPES = ("image/png", "image/jpeg", "image/svg+xml")
BADGES = ("colab-badge.svg", "binder-badge.svg")


def _is_exercise(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("solution") or meta.get("grade") or meta.get("task"))


def _page_text(path: Path) -> str:
    """What a file shows or contains: an HTML page without its tags (code highlighting splits a
    line into many spans), any other file as it is."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix == ".html":
        text = html.unescape(re.sub(r"<[^>]+>", "", text))
    return text


@pytest.fixture(scope="module")
def site(smoke_build, tmp_path_factory):
    """`labkit book` on the smoke run: the site's folder, what it printed and how long it took."""
    from labkit.book import build_book

    out, messages = tmp_path_factory.mktemp("site") / "book", []
    start = time.perf_counter()
    build_book(smoke_build[0], out, notebooks=REPO / "notebooks", echo=messages.append)
    return out, messages, time.perf_counter() - start


def test_site_builds_from_the_executed_labs_without_running_them(site):
    out, messages, seconds = site
    assert (out / "index.html").exists() and (out / "report.html").exists()
    assert not any("must run" in m or "running" in m for m in messages), messages
    assert any("smoke mode on cpu" in m for m in messages), messages
    assert not [m for m in messages if m.startswith("warning:")], "Sphinx warned:\n" + "\n".join(messages)
    print(f"site built in {seconds:.1f} s")
    landing = _page_text(out / "index.html")
    for lab in LABS:
        assert f"notebooks/{lab}.html" in (out / "index.html").read_text(), f"{lab} missing from the landing page"
    assert "Learning goals." in landing and "Expected run time." in landing
    report = _page_text(out / "report.html")
    assert "cnn_test_accuracy" in report and "quick run (smoke mode) on cpu" in report


@pytest.mark.parametrize("lab", LABS)
def test_every_lab_has_a_page_with_every_figure_it_drew(site, smoke_build, lab):
    out = site[0]
    page = out / "notebooks" / f"{lab}.html"
    assert page.exists(), f"no page for {lab}"
    executed = nbformat.read(smoke_build[0] / f"{lab}.ipynb", as_version=4)
    figures = sum(any(kind in output.get("data", {}) for kind in IMAGE_TYPES)
                  for cell in executed.cells if cell.cell_type == "code" and not _is_exercise(cell)
                  for output in cell.outputs)
    text = page.read_text(encoding="utf-8")
    shown = [src for src in re.findall(r'<img[^>]+src="([^"]+)"', text)
             if "_images/" in src and not src.endswith(BADGES)]
    assert len(shown) == figures, f"{lab}: {figures} figures in the notebook, {len(shown)} images on its page"
    assert all((page.parent / src).resolve().is_file() for src in shown)
    title = nbformat.read(REPO / "notebooks" / f"{lab}.ipynb", as_version=4).cells[0].source.splitlines()[0][2:]
    assert f"<title>{html.escape(title, quote=False)}" in text


def test_site_gives_no_answer_away(site, tmp_path):
    """No line of a solution or hidden test (>= 20 characters, absent from the student edition that
    `labkit release` builds) appears in any file of the site; a visible self-check line does."""
    from labkit.grading.editions import REGION, release

    editions = release(REPO / "notebooks", tmp_path / "release", course=tmp_path / "course", execute=False,
                       echo=lambda _: None)
    student_text = "\n".join(cell.source for path in editions for cell in nbformat.read(path, as_version=4).cells)
    secret = set()
    for lab in LABS:
        for cell in nbformat.read(REPO / "notebooks" / f"{lab}.ipynb", as_version=4).cells:
            secret |= {line.strip() for match in REGION.finditer(cell.source)
                       for line in match.group(2).splitlines() if len(line.strip()) >= 20}
    secret = {line for line in secret if line not in student_text}
    assert len(secret) > 100, "the solutions and hidden tests should give many lines to look for"
    files = [path for path in site[0].rglob("*") if path.is_file() and path.suffix in
             (".html", ".js", ".txt", ".ipynb", ".json", ".md", ".inv")]
    texts = {path: _page_text(path) for path in files}
    found = [f"{path.relative_to(site[0])}: {line[:70]}" for path, text in texts.items() for line in secret
             if line in text]
    assert not found, "the site gives answers away:\n" + "\n".join(found[:20])
    # The control: the same search finds a line each student sees (a self-check of lab 03).
    visible = "gen_ex1 = torch.Generator().manual_seed(1)"
    assert visible in student_text and visible in texts[site[0] / "notebooks" / "03_cnn.html"]


def test_internal_links_resolve(site):
    out = site[0]
    broken = []
    ids: dict[Path, set[str]] = {}

    def anchors(path: Path) -> set[str]:
        if path not in ids:
            ids[path] = set(re.findall(r'\bid="([^"]+)"', path.read_text(encoding="utf-8")))
        return ids[path]

    pages = sorted(p for p in out.rglob("*.html") if "_static" not in p.relative_to(out).parts)
    checked = 0
    for page in pages:
        for target in re.findall(r'(?:href|src)="([^"]+)"', page.read_text(encoding="utf-8")):
            target = html.unescape(target)
            if re.match(r"[a-z][a-z0-9+.-]*:", target):          # http(s), mailto, data, javascript
                continue
            path, _, anchor = target.split("?")[0].partition("#")
            resolved = (page.parent / path).resolve() if path else page
            if resolved.is_dir():
                resolved = resolved / "index.html"
            checked += 1
            if not resolved.exists():
                broken.append(f"{page.relative_to(out)} -> {target}")
            elif anchor and resolved.suffix == ".html" and anchor not in anchors(resolved):
                broken.append(f"{page.relative_to(out)} -> {target} (no such anchor)")
    assert checked > 1000 and not broken, "\n".join(broken[:30])


def _serve(folder: Path):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_site_in_a_browser(site):
    """Chromium reads the site from a loopback server: every lab page has its title and its images
    load, "next" leads from each lab to the following one, and the search box finds a lab."""
    from test_browser import CHROMIUM_ARGS, ENABLE, chromium_executable

    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip(f"the playwright module is missing; {ENABLE}")
    executable = chromium_executable()
    if executable is None:
        pytest.skip(f"no Chromium executable found; {ENABLE}")
    SITE_SHOTS.mkdir(parents=True, exist_ok=True)
    titles = {lab: nbformat.read(REPO / "notebooks" / f"{lab}.ipynb", as_version=4).cells[0].source
              .splitlines()[0][2:] for lab in LABS}
    server = _serve(site[0])
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
            try:
                page = chromium.new_page(viewport={"width": 1280, "height": 900})
                page.goto(f"{base}/index.html")
                page.screenshot(path=str(SITE_SHOTS / "index.png"))
                for lab, following in zip(LABS, LABS[1:] + [None]):
                    page.goto(f"{base}/notebooks/{lab}.html", wait_until="load")
                    assert page.title().startswith(titles[lab])
                    assert page.locator("h1").first.inner_text().strip().startswith(titles[lab])
                    broken = page.evaluate("""() => [...document.images]
                        .filter(img => !(img.complete && img.naturalWidth > 0)).map(img => img.src)""")
                    assert not broken, f"{lab}: images that did not load: {broken}"
                    assert page.locator("mjx-container").count() > 0, f"{lab}: no formula rendered"
                    page.screenshot(path=str(SITE_SHOTS / f"{lab}.png"))
                    if following:
                        page.locator("a.right-next").click()
                        page.wait_for_url(f"**/notebooks/{following}.html")
                page.goto(f"{base}/notebooks/{LABS[0]}.html")
                page.keyboard.press("Control+k")                    # the theme's search box
                box = page.locator("input[name='q']:visible").first
                box.fill("reparameterisation")
                box.press("Enter")
                page.wait_for_url("**/search.html?q=reparameterisation*")
                hit = page.locator("#search-results a[href*='04_vae']").first
                hit.wait_for(timeout=30_000)
                page.screenshot(path=str(SITE_SHOTS / "search.png"))
                hit.click()
                page.wait_for_url("**/notebooks/04_vae.html*")
            finally:
                chromium.close()
    finally:
        server.shutdown()
