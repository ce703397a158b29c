"""A factory that returns the model's config instead of the model."""


def make():
    return {"channels": 4}
