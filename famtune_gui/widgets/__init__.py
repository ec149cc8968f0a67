"""Touch widgets: keypad, chips, cards, charts, pickers, dialogs, banner, avatars."""
