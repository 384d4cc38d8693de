"""Home Assistant tests of custom_components/phoenyra (pytest-homeassistant-custom-component)."""
