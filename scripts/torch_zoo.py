#!/usr/bin/python3
"""PyTorch reference definitions of cnnctl's 17 zoo models.

Run with Debian's python3-torch (1.13, CPU):  /usr/bin/python3 scripts/torch_zoo.py --check

Every model is written the way the tutorial (classic-cnn-tutorial.md, Datawhale
"dive-into-cv-pytorch" chapter 2.2) writes it, because module attribute names are the
state_dict keys that cnnctl's exporter and importer must reproduce.

  --check          build all models on 3x32x32 / 10 classes, print params and MACs,
                   assert them against EXPECTED (and LeNet on 1x28x28 = 44,426 params)
  --describe NAME  print, in registration order, every module with its state_dict key,
                   type and hyper-parameters, then the forward trace (execution order,
                   shapes) and the functional ops that are not modules
  --describe all   the same for every model

MACs count only Conv2d and Linear multiply-adds (weight elements x output positions,
per image); biases, BatchNorm, pooling and activations are not counted.

Choices where the tutorial and the expected table could disagree (the table wins):
  * lenet: the tutorial's prose says sigmoid, its code uses ReLU; the table (62,006,
    same for either) and the brief say ReLU, so ReLU as in the code.
  * lenet-bn: the tutorial only prints the hand-written BatchNorm; the network is the
    one in classical_cnn_models/BN/BatchNormalization.py of the same repository:
    conv(Conv, BN, Sigmoid, MaxPool, Conv, Sigmoid, BN, MaxPool) and
    mlp(Linear, Sigmoid, Linear, Sigmoid, Linear) -- note the second BN comes AFTER
    its sigmoid, and the MLP has no BN. The hand-written BatchNorm (gamma/beta of
    shape (1,C,1,1), moving_mean/moving_var not registered as buffers, so they are
    not even in its state_dict; biased variance for the running average;
    momentum=0.9 meaning new = 0.9*old + 0.1*batch; running var initialised to 0)
    is replaced by nn.BatchNorm2d: keys weight/bias/running_mean/running_var/
    num_batches_tracked of shape (C,), momentum 0.1 (= the tutorial's 0.9), unbiased
    variance in the running average, running var initialised to 1. eps 1e-5 in both.
  * nin: the tutorial's forward returns (N,10,1,1); we flatten to (N,10) so the
    logits feed cross-entropy. No parameter changes.
  * mlp: the tutorial's text calls 3072*4096 + 4096*4096 + 4096*10 = 29,401,088 the
    "parameters"; that is the weight count only (= the MACs). With biases the model
    has 29,409,290 parameters (the table). The tutorial gives no activation; ReLU.
  * googlenet: the tutorial hard-codes Linear(1024, 10); we use num_classes (10).
"""

import argparse
import json
import math
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

# name: (params, MACs per image) on 3x32x32 input and 10 classes.
EXPECTED = {
    "lenet": (62_006, 651_720),
    "lenet-bn": (62_050, 651_720),
    "alexnet": (23_272_266, 62_742_528),
    "vgg11": (9_750_922, 153_293_824),
    "vgg13": (9_935_434, 228_791_296),
    "vgg16": (15_245_130, 313_725_952),
    "vgg19": (20_554_826, 398_660_608),
    "vgg11-bn": (9_756_426, 153_293_824),
    "vgg13-bn": (9_941_322, 228_791_296),
    "vgg16-bn": (15_253_578, 313_725_952),
    "vgg19-bn": (20_565_834, 398_660_608),
    "nin": (966_986, 222_486_528),
    "googlenet": (6_166_250, 1_521_756_160),
    "resnet": (195_738, 28_754_560),
    "resnet20": (269_722, 40_551_040),
    "resnet56": (853_018, 125_485_696),
    "mlp": (29_409_290, 29_401_088),
}
LENET_MNIST_PARAMS = 44_426  # lenet on 1x28x28

# Functional ops and data flow that are not modules (so not visible in named_modules).
FORWARD_NOTES = {
    "lenet": "x = max_pool2d(relu(conv1(x)), 2); x = max_pool2d(relu(conv2(x)), 2); "
             "flatten; relu(fc1); relu(fc2); fc3",
    "lenet-bn": "x = conv(x); flatten (N, 16*5*5); mlp(x)",
    "alexnet": "features(x); flatten (N, 256*2*2); classifier",
    "vgg": "features(x); flatten (N, 512); classifier",
    "nin": "classifier(x) (ends with AvgPool2d(8) -> (N,10,1,1)); "
           "avg_pool2d(kernel=remaining HxW = 1x1, a no-op); flatten (N,10)",
    "googlenet": "pre_layers; a3; b3; maxpool; a4; b4; c4; d4; e4; maxpool (same module "
                 "used twice); a5; b5; avgpool; flatten (N,1024); linear. "
                 "Inception(x) = cat([b1(x), b2(x), b3(x), b4(x)], dim=1) in that order",
    "resnet": "relu(bn(conv(x))) (one ReLU module 'relu', reused); layer1; layer2; layer3; "
              "avg_pool (AvgPool2d 8); flatten (N,64); fc. ResidualBlock(x): "
              "out = relu(bn1(conv1(x))); out = bn2(conv2(out)); "
              "residual = downsample(x) if downsample else x; relu(out + residual) "
              "(the block's 'relu' module is used twice)",
    "resnet-a": "relu(bn1(conv1(x))) (functional relu); layer1; layer2; layer3; "
                "avg_pool2d(kernel = W = 8); flatten (N,64); linear. BasicBlock(x): "
                "out = relu(bn1(conv1(x))); out = bn2(conv2(out)); out += shortcut(x); "
                "relu(out). shortcut: identity (empty nn.Sequential, no keys) when stride 1 "
                "and channels equal; else option A, a parameter-free LambdaLayer: "
                "F.pad(x[:, :, ::2, ::2], (0,0,0,0, planes//4, planes//4)) i.e. take "
                "even rows/cols and add planes//4 zero channels before and after",
    "mlp": "flatten (N, C*H*W); relu(fc1); relu(fc2); fc3",
}


# ---------------------------------------------------------------- models


class LeNet(nn.Module):
    """The tutorial's LeNet (code: ReLU, max-pool 2)."""

    def __init__(self, in_ch=3, size=32, num_classes=10):
        super().__init__()
        s = ((size - 4) // 2 - 4) // 2
        self.conv1 = nn.Conv2d(in_ch, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * s * s, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), kernel_size=(2, 2))
        x = F.max_pool2d(F.relu(self.conv2(x)), kernel_size=(2, 2))
        x = x.view(x.size()[0], -1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class LeNetBN(nn.Module):
    """BatchNormalization.py's LeNet with nn.BatchNorm2d for the hand-written BatchNorm."""

    def __init__(self, in_ch=3, size=32, num_classes=10):
        super().__init__()
        s = ((size - 4) // 2 - 4) // 2
        self.conv = nn.Sequential(
            nn.Conv2d(in_ch, 6, 5),
            nn.BatchNorm2d(6),
            nn.Sigmoid(),
            nn.MaxPool2d(2, 2),
            nn.Conv2d(6, 16, 5),
            nn.Sigmoid(),
            nn.BatchNorm2d(16),
            nn.MaxPool2d(2, 2),
        )
        self.mlp = nn.Sequential(
            nn.Linear(16 * s * s, 120),
            nn.Sigmoid(),
            nn.Linear(120, 84),
            nn.Sigmoid(),
            nn.Linear(84, num_classes),
        )

    def forward(self, x):
        x = self.conv(x)
        x = x.view(x.size()[0], -1)
        return self.mlp(x)


class AlexNet(nn.Module):
    """The tutorial's CIFAR AlexNet."""

    def __init__(self, in_ch=3, size=32, num_classes=10):
        super().__init__()
        s = size // 16
        self.flat = 256 * s * s
        self.features = nn.Sequential(
            nn.Conv2d(in_ch, 64, kernel_size=3, stride=2, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=2),
            nn.Conv2d(64, 192, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=2),
        )
        self.classifier = nn.Sequential(
            nn.Dropout(),
            nn.Linear(self.flat, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x):
        x = self.features(x)
        x = x.view(x.size(0), self.flat)
        return self.classifier(x)


VGG_CFG = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
              512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
              512, 512, 512, 512, "M"],
}


class VGG(nn.Module):
    """classical_cnn_models/pytorch-vgg-cifar10/vgg.py (linked from the tutorial)."""

    def __init__(self, cfg, batch_norm=False, in_ch=3, size=32, num_classes=10):
        super().__init__()
        layers = []
        c = in_ch
        for v in cfg:
            if v == "M":
                layers += [nn.MaxPool2d(kernel_size=2, stride=2)]
            else:
                conv2d = nn.Conv2d(c, v, kernel_size=3, padding=1)
                if batch_norm:
                    layers += [conv2d, nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
                else:
                    layers += [conv2d, nn.ReLU(inplace=True)]
                c = v
        self.features = nn.Sequential(*layers)
        s = size // 32
        self.classifier = nn.Sequential(
            nn.Dropout(),
            nn.Linear(512 * s * s, 512),
            nn.ReLU(True),
            nn.Dropout(),
            nn.Linear(512, 512),
            nn.ReLU(True),
            nn.Linear(512, num_classes),
        )

    def forward(self, x):
        x = self.features(x)
        x = x.view(x.size(0), -1)
        return self.classifier(x)


class NiN(nn.Module):
    """The tutorial's NiN (everything in one Sequential named classifier)."""

    def __init__(self, in_ch=3, size=32, num_classes=10):
        super().__init__()
        self.classifier = nn.Sequential(
            nn.Conv2d(in_ch, 192, kernel_size=5, stride=1, padding=2),
            nn.ReLU(inplace=True),
            nn.Conv2d(192, 160, kernel_size=1, stride=1, padding=0),
            nn.ReLU(inplace=True),
            nn.Conv2d(160, 96, kernel_size=1, stride=1, padding=0),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
            nn.Dropout(0.5),
            nn.Conv2d(96, 192, kernel_size=5, stride=1, padding=2),
            nn.ReLU(inplace=True),
            nn.Conv2d(192, 192, kernel_size=1, stride=1, padding=0),
            nn.ReLU(inplace=True),
            nn.Conv2d(192, 192, kernel_size=1, stride=1, padding=0),
            nn.ReLU(inplace=True),
            nn.AvgPool2d(kernel_size=3, stride=2, padding=1),
            nn.Dropout(0.5),
            nn.Conv2d(192, 192, kernel_size=3, stride=1, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(192, 192, kernel_size=1, stride=1, padding=0),
            nn.ReLU(inplace=True),
            nn.Conv2d(192, num_classes, kernel_size=1, stride=1, padding=0),
            nn.ReLU(inplace=True),
            nn.AvgPool2d(kernel_size=8, stride=1, padding=0),
        )

    def forward(self, x):
        x = self.classifier(x)
        x = F.avg_pool2d(x, kernel_size=x.size()[2:])
        return x.view(x.size(0), -1)  # added: the tutorial returns (N,10,1,1)


class Inception(nn.Module):
    def __init__(self, in_planes, n1x1, n3x3red, n3x3, n5x5red, n5x5, pool_planes):
        super().__init__()
        self.b1 = nn.Sequential(
            nn.Conv2d(in_planes, n1x1, kernel_size=1),
            nn.BatchNorm2d(n1x1),
            nn.ReLU(True),
        )
        self.b2 = nn.Sequential(
            nn.Conv2d(in_planes, n3x3red, kernel_size=1),
            nn.BatchNorm2d(n3x3red),
            nn.ReLU(True),
            nn.Conv2d(n3x3red, n3x3, kernel_size=3, padding=1),
            nn.BatchNorm2d(n3x3),
            nn.ReLU(True),
        )
        self.b3 = nn.Sequential(
            nn.Conv2d(in_planes, n5x5red, kernel_size=1),
            nn.BatchNorm2d(n5x5red),
            nn.ReLU(True),
            nn.Conv2d(n5x5red, n5x5, kernel_size=3, padding=1),
            nn.BatchNorm2d(n5x5),
            nn.ReLU(True),
            nn.Conv2d(n5x5, n5x5, kernel_size=3, padding=1),
            nn.BatchNorm2d(n5x5),
            nn.ReLU(True),
        )
        self.b4 = nn.Sequential(
            nn.MaxPool2d(3, stride=1, padding=1),
            nn.Conv2d(in_planes, pool_planes, kernel_size=1),
            nn.BatchNorm2d(pool_planes),
            nn.ReLU(True),
        )

    def forward(self, x):
        return torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], 1)


class GoogLeNet(nn.Module):
    """The tutorial's GoogLeNet (facebookresearch/mixup-cifar10 googlenet.py)."""

    def __init__(self, in_ch=3, size=32, num_classes=10):
        super().__init__()
        self.pre_layers = nn.Sequential(
            nn.Conv2d(in_ch, 192, kernel_size=3, padding=1),
            nn.BatchNorm2d(192),
            nn.ReLU(True),
        )
        self.a3 = Inception(192, 64, 96, 128, 16, 32, 32)
        self.b3 = Inception(256, 128, 128, 192, 32, 96, 64)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.a4 = Inception(480, 192, 96, 208, 16, 48, 64)
        self.b4 = Inception(512, 160, 112, 224, 24, 64, 64)
        self.c4 = Inception(512, 128, 128, 256, 24, 64, 64)
        self.d4 = Inception(512, 112, 144, 288, 32, 64, 64)
        self.e4 = Inception(528, 256, 160, 320, 32, 128, 128)
        self.a5 = Inception(832, 256, 160, 320, 32, 128, 128)
        self.b5 = Inception(832, 384, 192, 384, 48, 128, 128)
        self.avgpool = nn.AvgPool2d(8, stride=1)
        self.linear = nn.Linear(1024, num_classes)

    def forward(self, x):
        out = self.pre_layers(x)
        out = self.a3(out)
        out = self.b3(out)
        out = self.maxpool(out)
        out = self.a4(out)
        out = self.b4(out)
        out = self.c4(out)
        out = self.d4(out)
        out = self.e4(out)
        out = self.maxpool(out)
        out = self.a5(out)
        out = self.b5(out)
        out = self.avgpool(out)
        out = out.view(out.size(0), -1)
        return self.linear(out)


def conv3x3(in_channels, out_channels, stride=1):
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1,
                     bias=False)


class ResidualBlock(nn.Module):
    def __init__(self, in_channels, out_channels, stride=1, downsample=None):
        super().__init__()
        self.conv1 = conv3x3(in_channels, out_channels, stride)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(out_channels, out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample = downsample

    def forward(self, x):
        residual = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample:
            residual = self.downsample(x)
        out += residual
        return self.relu(out)


class ResNet(nn.Module):
    """The tutorial's ResNet (layers [2,2,2], downsample = conv3x3 + BN)."""

    def __init__(self, layers=(2, 2, 2), in_ch=3, size=32, num_classes=10):
        super().__init__()
        self.in_channels = 16
        self.conv = conv3x3(in_ch, 16)
        self.bn = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self.make_layer(ResidualBlock, 16, layers[0])
        self.layer2 = self.make_layer(ResidualBlock, 32, layers[1], 2)
        self.layer3 = self.make_layer(ResidualBlock, 64, layers[2], 2)
        self.avg_pool = nn.AvgPool2d(8)
        self.fc = nn.Linear(64, num_classes)

    def make_layer(self, block, out_channels, blocks, stride=1):
        downsample = None
        if (stride != 1) or (self.in_channels != out_channels):
            downsample = nn.Sequential(
                conv3x3(self.in_channels, out_channels, stride=stride),
                nn.BatchNorm2d(out_channels))
        layers = [block(self.in_channels, out_channels, stride, downsample)]
        self.in_channels = out_channels
        for _ in range(1, blocks):
            layers.append(block(out_channels, out_channels))
        return nn.Sequential(*layers)

    def forward(self, x):
        out = self.relu(self.bn(self.conv(x)))
        out = self.layer1(out)
        out = self.layer2(out)
        out = self.layer3(out)
        out = self.avg_pool(out)
        out = out.view(out.size(0), -1)
        return self.fc(out)


class ShortcutA(nn.Module):
    """Option-A shortcut of He et al. 2015 (akamaster's LambdaLayer): no parameters."""

    def __init__(self, planes):
        super().__init__()
        self.pad = planes // 4

    def forward(self, x):
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad), "constant", 0)

    def extra_repr(self):
        return "subsample=2, zero_channels_each_side=%d" % self.pad


class BasicBlockA(nn.Module):
    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3, stride=stride, padding=1,
                               bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = ShortcutA(planes)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += self.shortcut(x)
        return F.relu(out)


class ResNetA(nn.Module):
    """CIFAR ResNet-(6n+2) of He et al. 2015, option A (akamaster/pytorch_resnet_cifar10)."""

    def __init__(self, n, in_ch=3, size=32, num_classes=10):
        super().__init__()
        self.in_planes = 16
        self.conv1 = nn.Conv2d(in_ch, 16, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.layer1 = self._make_layer(16, n, 1)
        self.layer2 = self._make_layer(32, n, 2)
        self.layer3 = self._make_layer(64, n, 2)
        self.linear = nn.Linear(64, num_classes)

    def _make_layer(self, planes, n, stride):
        layers = []
        for s in [stride] + [1] * (n - 1):
            layers.append(BasicBlockA(self.in_planes, planes, s))
            self.in_planes = planes
        return nn.Sequential(*layers)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer1(out)
        out = self.layer2(out)
        out = self.layer3(out)
        out = F.avg_pool2d(out, out.size()[3])
        out = out.view(out.size(0), -1)
        return self.linear(out)


class MLP(nn.Module):
    """The tutorial's introduction: 3072-4096-4096-10 (ReLU chosen; the text names none)."""

    def __init__(self, in_ch=3, size=32, num_classes=10):
        super().__init__()
        self.fc1 = nn.Linear(in_ch * size * size, 4096)
        self.fc2 = nn.Linear(4096, 4096)
        self.fc3 = nn.Linear(4096, num_classes)

    def forward(self, x):
        x = x.view(x.size(0), -1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


NAMES = list(EXPECTED)


def build(name, in_ch=3, size=32, num_classes=10):
    """Return the model `name` in train mode with PyTorch's default initialisation."""
    fixed32 = {"nin", "googlenet", "resnet", "resnet20", "resnet56"}
    if name in fixed32 and size != 32:
        raise ValueError("%s: the tutorial's final AvgPool2d(8) needs size 32, got %d"
                         % (name, size))
    if name == "lenet":
        return LeNet(in_ch, size, num_classes)
    if name == "lenet-bn":
        return LeNetBN(in_ch, size, num_classes)
    if name == "alexnet":
        return AlexNet(in_ch, size, num_classes)
    if name in VGG_CFG:
        return VGG(VGG_CFG[name], False, in_ch, size, num_classes)
    if name.endswith("-bn") and name[:-3] in VGG_CFG:
        return VGG(VGG_CFG[name[:-3]], True, in_ch, size, num_classes)
    if name == "nin":
        return NiN(in_ch, size, num_classes)
    if name == "googlenet":
        return GoogLeNet(in_ch, size, num_classes)
    if name == "resnet":
        return ResNet((2, 2, 2), in_ch, size, num_classes)
    if name == "resnet20":
        return ResNetA(3, in_ch, size, num_classes)
    if name == "resnet56":
        return ResNetA(9, in_ch, size, num_classes)
    if name == "mlp":
        return MLP(in_ch, size, num_classes)
    raise ValueError("unknown model %r (known: %s)" % (name, ", ".join(NAMES)))


def forward_note(name):
    if name.startswith("vgg"):
        return FORWARD_NOTES["vgg"]
    if name in ("resnet20", "resnet56"):
        return FORWARD_NOTES["resnet-a"]
    return FORWARD_NOTES[name]


# ---------------------------------------------------------------- counting


def count_params(model):
    return sum(p.numel() for p in model.parameters())


def trace(model, in_ch=3, size=32):
    """Run one image through `model` in eval mode; return (MACs, [(key, module, in, out)])."""
    names = {m: k for k, m in model.named_modules()}
    calls = []
    macs = [0]

    def hook(mod, inp, out):
        if isinstance(mod, nn.Conv2d):
            per_pos = (mod.in_channels // mod.groups) * mod.kernel_size[0] * mod.kernel_size[1]
            macs[0] += out[0].numel() * per_pos
        elif isinstance(mod, nn.Linear):
            macs[0] += mod.in_features * mod.out_features
        calls.append((names[mod], mod, tuple(inp[0].shape[1:]), tuple(out.shape[1:])))

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if len(list(m.children())) == 0]
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, in_ch, size, size))
    model.train(was_training)
    for h in handles:
        h.remove()
    return macs[0], calls


def hparams(m):
    """One-line hyper-parameters of a leaf module, in cnnctl-friendly terms."""
    if isinstance(m, nn.Conv2d):
        return ("in=%d out=%d kernel=%dx%d stride=%d pad=%d bias=%s"
                % (m.in_channels, m.out_channels, m.kernel_size[0], m.kernel_size[1],
                   m.stride[0], m.padding[0], m.bias is not None))
    if isinstance(m, nn.Linear):
        return "in=%d out=%d bias=%s" % (m.in_features, m.out_features, m.bias is not None)
    if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
        return "features=%d eps=%g momentum=%g affine=%s" % (
            m.num_features, m.eps, m.momentum, m.affine)
    if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
        k, s, p = m.kernel_size, m.stride, m.padding
        extra = ""
        if isinstance(m, nn.AvgPool2d):
            extra = " count_include_pad=%s ceil_mode=%s" % (m.count_include_pad, m.ceil_mode)
        else:
            extra = " ceil_mode=%s" % m.ceil_mode
        return "kernel=%s stride=%s pad=%s%s" % (k, s, p, extra)
    if isinstance(m, nn.Dropout):
        return "p=%g" % m.p
    if isinstance(m, nn.Sequential):
        return "identity (empty Sequential, no keys)"
    return m.extra_repr()


def describe(name, out=sys.stdout):
    model = build(name)
    macs, calls = trace(model)
    w = out.write
    w("== %s  params=%d  MACs=%d  input=3x32x32 classes=10\n" % (
        name, count_params(model), macs))
    w("-- modules (registration order = state_dict order)\n")
    sd = model.state_dict()
    for key, m in model.named_modules():
        if key == "" or len(list(m.children())) > 0:
            continue
        tensors = ["%s%s" % (k[len(key) + 1:], list(v.shape)) for k, v in sd.items()
                   if k.startswith(key + ".") and "." not in k[len(key) + 1:]]
        w("  %-22s %-12s %s%s\n" % (key, type(m).__name__, hparams(m),
                                     ("  | " + " ".join(tensors)) if tensors else ""))
    w("-- forward trace (execution order, per-image shapes C,H,W)\n")
    for key, m, i, o in calls:
        w("  %-22s %-12s %s -> %s\n" % (key, type(m).__name__,
                                         "x".join(map(str, i)), "x".join(map(str, o))))
    w("-- functional ops / data flow: %s\n" % forward_note(name))
    w("-- state_dict keys (%d)\n" % len(sd))
    for k, v in sd.items():
        w("  %s %s %s\n" % (k, list(v.shape), str(v.dtype).replace("torch.", "")))
    w("\n")


def check():
    ok = True
    print("%-10s %12s %12s %15s %15s" % ("model", "params", "expected", "MACs", "expected"))
    for name in NAMES:
        model = build(name)
        p = count_params(model)
        macs, _ = trace(model)
        ep, em = EXPECTED[name]
        flag = "" if (p, macs) == (ep, em) else "  MISMATCH"
        ok = ok and not flag
        print("%-10s %12d %12d %15d %15d%s" % (name, p, ep, macs, em, flag))
    mn = count_params(build("lenet", in_ch=1, size=28))
    print("lenet 1x28x28 params %d (expected %d)" % (mn, LENET_MNIST_PARAMS))
    assert ok, "parameter or MAC counts differ from EXPECTED"
    assert mn == LENET_MNIST_PARAMS, "lenet 1x28x28 params"
    print("all counts match")


# ---------------------------------------------------------------- safetensors

# Debian bookworm has no python3-safetensors, so the format is written by hand:
# u64 little-endian header length, JSON header padded with spaces to 8 bytes,
# then the tensors packed contiguously in the order given.

_DTYPES = {"F32": ("<f4", 4), "F16": ("<f2", 2), "F64": ("<f8", 8), "I64": ("<i8", 8)}


def save_safetensors(path, tensors, metadata=None):
    """Write an ordered list of (name, tensor) pairs as safetensors: int64 tensors
    (BatchNorm's num_batches_tracked) as I64, like safetensors.torch, all others as F32."""
    header = {}
    if metadata:
        # Sorted keys, like cnnctl's Go writer, so both write identical bytes.
        header["__metadata__"] = {str(k): str(metadata[k]) for k in sorted(metadata)}
    blobs = []
    offset = 0
    for name, t in tensors:
        if name in header:
            raise ValueError("%s: duplicate tensor %r" % (path, name))
        if t.dtype == torch.int64:
            dtype, a = "I64", t.detach().contiguous().cpu().numpy().astype("<i8")
        else:
            dtype, a = "F32", t.detach().to(torch.float32).contiguous().cpu().numpy().astype("<f4")
        b = a.tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def load_safetensors(path):
    """Read a safetensors file into ({name: float32 tensor}, metadata), file order kept."""
    import numpy as np

    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError("%s: too short" % path)
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise ValueError("%s: header length %d exceeds file" % (path, n))
    header = json.loads(data[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {}) or {}
    body = data[8 + n:]
    out = {}
    for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"]):
        dt = info["dtype"]
        b, e = info["data_offsets"]
        raw = body[b:e]
        if dt == "BF16":
            u = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            a = u.view(np.float32)
        elif dt in _DTYPES:
            a = np.frombuffer(raw, dtype=_DTYPES[dt][0]).astype(np.float32)
        else:
            raise ValueError("%s: tensor %r: unsupported dtype %s" % (path, name, dt))
        out[name] = torch.from_numpy(a.reshape(info["shape"]).copy())
    return out, meta


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="assert params and MACs")
    ap.add_argument("--describe", metavar="NAME", help="print a model's layers ('all')")
    args = ap.parse_args(argv)
    if not args.check and not args.describe:
        ap.error("give --check or --describe NAME")
    torch.manual_seed(0)
    if args.check:
        check()
    if args.describe:
        for name in (NAMES if args.describe == "all" else [args.describe]):
            describe(name)


if __name__ == "__main__":
    main()
