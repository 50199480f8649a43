"""The web page people use to watch and steer the avatar."""
