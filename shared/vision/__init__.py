"""Working with images and video: reading and writing clips, sampling frames, synthetic scenes."""
