#!/bin/sh
# Regenerate the shipped prompts (8 kHz mono 16-bit PCM WAV) with espeak-ng and sox.
# Run from this folder: sh make_prompts.sh
set -eu
say() {
    out=$1; shift
    tmp=$(mktemp --suffix=.wav)
    espeak-ng -v cmn -s 160 -w "$tmp" "$*"
    sox "$tmp" -r 8000 -c 1 -b 16 -e signed-integer "$out.wav" norm -3
    rm -f "$tmp"
}
say greeting "您好，这里是信息中心服务热线。Hello, this is the IT service desk hotline."
say menu "报修请按1，查询请按2，人工服务请按0。Request, press 1. Status, press 2. Engineer, press 0."
say voicemail "请在提示音后留言，按井号键结束。Please leave a message after the tone, then press the hash key."
say invalid "输入有误，请重新输入。Sorry, that was not a valid choice."
say goodbye "感谢您的来电，再见。Thank you for calling, goodbye."
say transfer "正在为您转接值班工程师，请稍候。Connecting you to the on-call engineer, please hold."
