"""The models: encoding, corpus import, the LSTMs, training, checkpoints and sampling."""
