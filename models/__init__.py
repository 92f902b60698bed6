"""The shipped direction model and its card, installed as the package data `coach.models`."""
