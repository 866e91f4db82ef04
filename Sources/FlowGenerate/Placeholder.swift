enum _PlaceholderGen {}
