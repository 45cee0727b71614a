"""The app's own settings, with `bench._urls` as the URLconf (the app's URLs plus the bare view)."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench._urls"
