"""The application layer: the facade the GUI and the CLI call for each user action."""
