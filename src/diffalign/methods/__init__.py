"""Methods: recipes (typed configs loaded from TOML) and the one self-training loop they configure."""
