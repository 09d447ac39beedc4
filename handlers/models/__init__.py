"""Model definitions: the one place training, evaluation and the handlers build models from.

Default model (see `fashion.py` for the contract):
    load_fashion_model(checkpoint_dir) -> (FashionModel, meta)
    build_model(categories, attributes, ...) -> FashionModel
    INPUT_SIZE, MEAN, STD: the preprocessing the model expects (`handlers.images.to_tensor(images, INPUT_SIZE, MEAN, STD)`)
MMFashion-compatible models: see `mmfashion.py`.
"""
from handlers.models.efficientnet_lite import MEAN, STD, EfficientNetLite0, load_efficientnet_lite0
from handlers.models.fashion import FashionModel, build_model, load_fashion_model, save_fashion_model

INPUT_SIZE = 224

__all__ = [
    "INPUT_SIZE",
    "MEAN",
    "STD",
    "EfficientNetLite0",
    "FashionModel",
    "build_model",
    "load_efficientnet_lite0",
    "load_fashion_model",
    "save_fashion_model",
]
