"""`GhostSupernet`: one set of shared tensors that every covered GhostNet is a slice of.

A subnet is an `ArchConfig`. Its forward pass is the standalone model's own forward
(`build_model(arch)`, built once per architecture on the meta device, shapes only) run with the
tensors the supernet gathers for it (`torch.func.functional_call`), so the supernet computes
exactly what the extracted standalone model computes: extraction is the same gather, detached.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import Tensor, nn
from torch.func import functional_call

from workbench.config.arch import ArchConfig
from workbench.errors import WorkbenchError
from workbench.models import build_model
from workbench.supernet.elastic import ElasticBottleneck, ElasticConvBN, State, prefixed, raise_outside
from workbench.supernet.envelope import Envelope, check_ghost_blocks

# Meta-device skeletons kept per architecture (a sandwich step meets 4 architectures).
SKELETONS = 64


class GhostSupernet(nn.Module):
    """The weight-sharing supernet of an `Envelope`.

    Example:
        >>> from workbench.models import get_preset
        >>> from workbench.supernet.envelope import envelope_of
        >>> arch = get_preset("ghostnet_cifar_050", input_size=12, in_channels=1)
        >>> net = GhostSupernet(envelope_of([arch])).eval()
        >>> net(torch.zeros(2, 1, 12, 12), arch).shape
        torch.Size([2, 10])
    """

    def __init__(self, envelope: Envelope) -> None:
        super().__init__()
        self.envelope = envelope
        self.stem = ElasticConvBN(envelope.stem_out, envelope.in_channels, envelope.stem_kernel)
        self.stages = nn.ModuleList(nn.ModuleList(ElasticBottleneck(dims) for dims in stage)
                                    for stage in envelope.stages)
        self.head_conv = ElasticConvBN(envelope.last, envelope.head_in_sem, 1)
        conv_head = nn.Conv2d(envelope.last, envelope.features, 1)
        self.conv_head_weight = nn.Parameter(conv_head.weight.detach().clone())
        self.conv_head_bias = nn.Parameter(conv_head.bias.detach().clone())
        self.classifier = nn.Linear(envelope.features, envelope.num_classes)
        self._skeletons: OrderedDict[str, nn.Module] = OrderedDict()

    def forward(self, x: Tensor, arch: ArchConfig) -> Tensor:
        """The logits of subnet `arch` (train or eval mode as the supernet is)."""
        skeleton = self.skeleton(arch)
        skeleton.train(self.training)
        return functional_call(skeleton, self.subnet_state(arch, skeleton), (x,), strict=True)

    def skeleton(self, arch: ArchConfig) -> nn.Module:
        """`build_model(arch)` on the meta device (cached): the subnet's modules, without memory."""
        key = arch.model_dump_json()
        if key not in self._skeletons:
            check_ghost_blocks(arch)
            with torch.device("meta"):
                self._skeletons[key] = build_model(arch)
            while len(self._skeletons) > SKELETONS:
                self._skeletons.popitem(last=False)
        self._skeletons.move_to_end(key)
        return self._skeletons[key]

    def subnet_state(self, arch: ArchConfig, skeleton: nn.Module | None = None) -> State:
        """The state dict of `build_model(arch)` gathered from the shared tensors (differentiable).

        Raises:
            WorkbenchError: `arch` is not covered (another stem, head or classes, a deeper stage,
                more channels, ghosts or a larger kernel than the supernet holds).
        """
        model = skeleton if skeleton is not None else self.skeleton(arch)
        env = self.envelope
        if (arch.in_channels, arch.num_classes, arch.head.features, len(arch.stages)) != (
                env.in_channels, env.num_classes, env.features, len(env.stages)):
            raise_outside(f"architecture '{arch.name}' has another input, head, classes or stage count")
        stem_conv = model.stem[0]
        if (stem_conv.kernel_size[0], stem_conv.stride[0]) != (env.stem_kernel, env.stem_stride):
            raise_outside(f"architecture '{arch.name}' has another stem kernel or stride")
        out = prefixed("stem.", self.stem.state(torch.arange(stem_conv.out_channels),
                                                 torch.arange(env.in_channels), env.stem_kernel, "stem"))
        layout = torch.arange(stem_conv.out_channels)
        for s, (elastic, stage) in enumerate(zip(self.stages, model.stages)):
            if len(stage) > len(elastic):
                raise_outside(f"stage {s} has {len(stage)} blocks; the supernet holds {len(elastic)}")
            for b, block in enumerate(stage):
                if elastic[b].dims.stride != (block.conv_dw[0].stride[0] if block.conv_dw is not None else 1):
                    raise_outside(f"stage {s} block {b} has another stride")
                state, layout = elastic[b].state(block, layout, f"stage {s} block {b}")
                out.update(prefixed(f"stages.{s}.{b}.", state))
        last = torch.arange(model.head_conv[0].out_channels)
        out.update(prefixed("head_conv.", self.head_conv.state(last, layout, 1, "head conv")))
        if len(last) > self.conv_head_weight.shape[1]:
            raise_outside(f"head conv of {len(last)} channels; the supernet holds {self.conv_head_weight.shape[1]}")
        out["conv_head.weight"] = self.conv_head_weight[:, : len(last)]
        out["conv_head.bias"] = self.conv_head_bias
        out["classifier.weight"], out["classifier.bias"] = self.classifier.weight, self.classifier.bias
        return out

    def extract(self, arch: ArchConfig) -> nn.Module:
        """A standalone `build_model(arch)` holding the subnet's inherited tensors (copies), in eval mode.

        Raises:
            WorkbenchError: `arch` is not covered.
        """
        state = {key: value.detach().clone() for key, value in self.subnet_state(arch).items()}
        model = build_model(arch)
        try:
            model.load_state_dict(state)
        except RuntimeError as error:  # a shape the gathers got wrong would be a bug; say so in one line
            raise WorkbenchError(f"subnet '{arch.name}' does not load its inherited tensors "
                                 f"({str(error).splitlines()[0]})") from None
        return model.to(self.classifier.weight.device).eval()

