"""Query log, feedback and the privacy rules around them."""
