"""Evaluation of routing quality: AIQ, threshold/utility sweeps, baselines, calibration.

`v0-gateway bench routing` lives in `routing_bench`, `v0-gateway calibrate` in `calibrate`.
Nothing here is imported by the serving path.
"""
