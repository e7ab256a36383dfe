"""Scorers: functions of (image, prompt) pairs behind one protocol; point-wise MI is filled in while sampling."""
