"""Model definitions: the one place training, evaluation and the handlers build models from.

Default model (see `fashion.py` for the contract):
    load_fashion_model(checkpoint_dir) -> (FashionModel, meta)
    build_model(categories, attributes, ...) -> FashionModel
    INPUT_SIZE, MEAN, STD: the preprocessing the model expects (`handlers.images.to_tensor(images, INPUT_SIZE, MEAN, STD)`)
MMFashion-compatible models (VGG-16 / ResNet-50, GlobalPooling, attribute/category predictors, embed extractor):
    load_mmfashion_checkpoint(path) -> (MMFashionModel, MMFashionSpec)   # see `mmfashion.py`
    mmfashion.INPUT_SIZE / MEAN / STD: their preprocessing (ImageNet mean/std, 224 px)
"""
from handlers.models.efficientnet_lite import MEAN, STD, EfficientNetLite0, load_efficientnet_lite0
from handlers.models.mmfashion import MMFashionModel, MMFashionSpec, load_mmfashion_checkpoint
from handlers.models.fashion import FashionModel, build_model, load_fashion_model, save_fashion_model

INPUT_SIZE = 224

__all__ = [
    "INPUT_SIZE",
    "MEAN",
    "STD",
    "EfficientNetLite0",
    "FashionModel",
    "MMFashionModel",
    "MMFashionSpec",
    "build_model",
    "load_efficientnet_lite0",
    "load_fashion_model",
    "load_mmfashion_checkpoint",
    "save_fashion_model",
]
