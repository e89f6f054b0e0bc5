"""The operator console's arithmetic: traffic and calibration figures, replay of logged decisions."""
