"""Mixed-R1: GRPO post-training of vision-language models with a mixed reward."""
