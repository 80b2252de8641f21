"""Package data: icons, style sheets, default settings."""
