"""Ready integrations of the recommendations app with other Django packages."""
