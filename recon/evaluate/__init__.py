"""Evaluation: metrics, protocol presets, mesh extraction, baselines."""
