"""Segment activation: the CRM lists and campaigns that hold each segment for marketers."""
