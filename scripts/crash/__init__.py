"""The crash drill's parts; ``scripts/crash_drill.py`` is its entry point and says what it
does."""
