"""Bayesian models: the PD model, its convergence gate and validation metrics."""
