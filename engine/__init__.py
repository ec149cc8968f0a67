"""famtune engine: everything below the touchscreen app. Never imports Qt."""

__version__ = "0.1.0"
