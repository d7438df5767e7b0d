"""What the generating stages (synthesize, evalsets) share: fitted, cached, structured calls to the
teacher and the schemas it answers in."""
