"""Model definitions: the one place training, evaluation and the handlers build models from.

Default model (see `fashion.py` for the contract):
    load_fashion_model(checkpoint_dir) -> (FashionModel, meta)
    build_model(categories, attributes, ...) -> FashionModel
    MEAN, STD and the model's `input_size`: the preprocessing it expects (`to_tensor(images, model.input_size, MEAN, STD)`);
    INPUT_SIZE: the default backbone's (Lite0's 224 px), for code that builds no model
    BACKBONES: the EfficientNet-Lite sizes a model can be built on (`efficientnet_lite.py`: Lite0, Lite2)
MMFashion-compatible models (VGG-16 / ResNet-50, GlobalPooling, attribute/category predictors, embed extractor):
    load_mmfashion_checkpoint(path) -> (MMFashionModel, MMFashionSpec)   # see `mmfashion.py`
    mmfashion.INPUT_SIZE / MEAN / STD: their preprocessing (ImageNet mean/std, 224 px)
"""
from handlers.models.efficientnet_lite import (BACKBONES, LITE0, MEAN, STD, Backbone, EfficientNetLite,
                                               load_efficientnet_lite)
from handlers.models.mmfashion import MMFashionModel, MMFashionSpec, load_mmfashion_checkpoint
from handlers.models.fashion import FashionModel, build_model, load_fashion_model, save_fashion_model

INPUT_SIZE = LITE0.input_size

__all__ = [
    "BACKBONES",
    "INPUT_SIZE",
    "LITE0",
    "MEAN",
    "STD",
    "Backbone",
    "EfficientNetLite",
    "FashionModel",
    "MMFashionModel",
    "MMFashionSpec",
    "build_model",
    "load_efficientnet_lite",
    "load_fashion_model",
    "load_mmfashion_checkpoint",
    "save_fashion_model",
]
