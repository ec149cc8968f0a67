"""famtune's touchscreen app (PySide6). Holds no business logic: it calls the engine."""
