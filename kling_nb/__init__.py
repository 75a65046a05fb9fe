"""kling_nb: Kling O1 image-to-image from a notebook, done properly."""
