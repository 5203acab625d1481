"""mixvocab-tf: extremely small BERT students from mixed-vocabulary distillation."""

import setuptools

setuptools.setup(
    name="mixvocab-tf",
    version="0.1.0",
    description=(
        "Distil a pretrained BERT into a tiny small-vocabulary student by "
        "mixed-vocabulary training, and ship it as a quantized TFLite model."
    ),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10,<3.13",
    packages=setuptools.find_packages(include=["mixvocab_tf", "mixvocab_tf.*"]),
    # Ranges; requirements.txt holds the exact, tested pins.
    install_requires=[
        "tensorflow>=2.18,<2.22",
        "tensorflow-text>=2.18,<2.22",
        "keras>=3.12,<3.16",
        "keras-hub>=0.22,<0.33",
        "tf-keras>=2.18,<2.22",
        "tensorflow-model-optimization>=0.8.1,<0.9",
        # tensorflow-model-optimization 0.8.x requires absl-py<2.
        "absl-py>=1.0,<2",
        "tensorflow-datasets>=4.9,<5",
        "tensorboard>=2.18",
        "ai-edge-litert>=1.2,<3",
        "safetensors>=0.4",
        "matplotlib>=3.7",
        "numpy>=1.26",
    ],
    extras_require={
        "test": ["pytest>=8", "pytest-xdist>=3"],
        # MediaPipe's TextClassifier metadata and runtime. mediapipe needs absl-py>=2,
        # which conflicts with the core install's absl-py<2: install this extra in its
        # own environment (`make setup-mediapipe`), never next to the core.
        "mediapipe": ["mediapipe>=1.2,<2"],
    },
    entry_points={"console_scripts": ["mixvocab-demo = mixvocab_tf.demo:run"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "License :: OSI Approved :: Apache Software License",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
