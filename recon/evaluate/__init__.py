"""Evaluation: metrics, protocols, mesh extraction, baselines."""
