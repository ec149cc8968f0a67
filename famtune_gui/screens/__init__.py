"""The screens: home, family, parental controls, family model, live metrics, first run."""
