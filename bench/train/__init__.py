"""Training one model on one split: seeding, fit, metrics, predictions, saving."""
