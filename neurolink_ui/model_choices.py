"""The models each panel offers by default: the seed guide's defaults and MODELS.md's alternatives.

Any other `owner/name[:version]` can be typed in; these are only the picker's suggestions.
"""

CHAT_MODELS = [
    "meta/meta-llama-3.1-70b-instruct",
    "meta/meta-llama-3.1-405b-instruct",
    "meta/meta-llama-3-70b-instruct",
    "meta/meta-llama-3-8b-instruct",
    "deepseek-ai/deepseek-r1",
]
IMAGE_MODELS = [
    "black-forest-labs/flux-1.1-pro",
    "black-forest-labs/flux-schnell",
    "stability-ai/stable-diffusion-3.5-large",
    "stability-ai/stable-diffusion-3.5-large-turbo",
    "playgroundai/playground-v2.5-1024px-aesthetic",
    "ideogram-ai/ideogram-v3-turbo",
]
VIDEO_MODELS = [
    "atonamy/wan-alpha",
    "wan-video/wan-2.2-i2v-fast",
    "wavespeedai/wan-2.1-i2v-480p",
    "minimax/hailuo-2.3-fast",
    "kwaivgi/kling-v2.1",
]
AVATAR_MODELS = [
    "lucataco/musetalk",
    "douwantech/musetalk",
    "cjwbw/sadtalker",
    "lucataco/sadtalker",
    "lucataco/talking-avatar",
]
MUSIC_MODELS = ["meta/musicgen"]
