"""Voice: recording from the microphone and transcribing locally with faster-whisper.

Everything here imports numpy, sounddevice or faster-whisper, so nothing outside a voice
command may import this package at module level: the CLI must stay fast without them.
"""
