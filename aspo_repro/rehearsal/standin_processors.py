"""The processors of the paper checkpoints' stand-ins (``rehearsal/checkpoints.py``): LLaVA-1.5's image
processor settings and chat template, InstructBLIP's image processor and Q-Former tokenizer. A family's
``standin_processor`` (``models/families.py``) is its processor here; this module asks no family
anything, so it imports no registry.
"""

from __future__ import annotations

# LLaVA-1.5's processor (llava-hf/llava-1.5-7b-hf): OpenAI CLIP's normalisation at 336 pixels.
OPENAI_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
OPENAI_CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
BICUBIC = 3
LLAVA_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': '}}"
    "{% endif %}{# Render all images first #}{% for content in message['content'] | selectattr('type', "
    "'equalto', 'image') %}{{ '<image>\n' }}{% endfor %}{# Render all text next #}{% if message['role'] "
    "!= 'assistant' %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{ content['text'] + ' '}}{% endfor %}{% else %}{% for content in message['content'] | "
    "selectattr('type', 'equalto', 'text') %}{% generation %}{{ content['text'] + ' '}}{% endgeneration %}"
    "{% endfor %}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)


def llava_processor(tokenizer, config):
    from transformers import CLIPImageProcessor, LlavaProcessor

    size = config.vision_config.image_size
    image_processor = CLIPImageProcessor(
        size={"shortest_edge": size}, crop_size={"height": size, "width": size}, do_center_crop=True,
        resample=BICUBIC, image_mean=OPENAI_CLIP_MEAN, image_std=OPENAI_CLIP_STD, do_convert_rgb=True)
    return LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer,
                          patch_size=config.vision_config.patch_size, vision_feature_select_strategy="default",
                          num_additional_image_tokens=1, chat_template=LLAVA_CHAT_TEMPLATE)


def instructblip_processor(tokenizer, qformer, config):
    from transformers import BlipImageProcessor, InstructBlipProcessor

    size = config.vision_config.image_size
    image_processor = BlipImageProcessor(size={"height": size, "width": size}, resample=BICUBIC,
                                         image_mean=OPENAI_CLIP_MEAN, image_std=OPENAI_CLIP_STD, do_convert_rgb=True)
    return InstructBlipProcessor(image_processor=image_processor, tokenizer=tokenizer, qformer_tokenizer=qformer,
                                 num_query_tokens=config.num_query_tokens)
