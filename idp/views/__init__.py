"""idp views, one module per endpoint family."""
