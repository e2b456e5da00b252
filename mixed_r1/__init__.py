"""Mixed-R1: GRPO post-training of vision-language models with a mixed reward."""

import logging

# torchao is in the lock (trainer.optimizer=adamw_8bit), and transformers imports it whenever it is installed: on a
# machine without CUDA it then warns about each CUDA kernel library it cannot load, and torch about an enum torchao
# registers the old way. Nothing here uses those kernels or that registration, so the lines are only noise in every
# run's log: torchao's warnings are held back (its errors still show) and that one torch message is filtered.
logging.getLogger("torchao").setLevel(logging.ERROR)


class _TorchaoEnumNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "register_constant() on Enum subclasses is deprecated" not in record.getMessage()


logging.getLogger("torch.utils._pytree").addFilter(_TorchaoEnumNotice())
