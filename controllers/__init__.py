from . import main, metrics
