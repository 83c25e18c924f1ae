"""Leitstand: a control room for connected devices and the business around them."""

__version__ = "0.1.0"
