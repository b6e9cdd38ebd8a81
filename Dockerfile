# PocketFlow (TF 2 / Keras 3) in a container; built and run by scripts/run_docker.sh.
# The TensorFlow GPU image brings CUDA; on a machine without GPUs the same image runs on the CPU.
FROM tensorflow/tensorflow:2.21.0-gpu

WORKDIR /opt/pocketflow
COPY requirements.txt ./
RUN python3 -m pip install --no-cache-dir -r requirements.txt
COPY . .
ENV PYTHONPATH=/opt/pocketflow TF_CPP_MIN_LOG_LEVEL=2
# Data, pre-trained models, outputs and logs are mounted by run_docker.sh.
VOLUME ["/data", "/work"]
WORKDIR /work
ENTRYPOINT ["python3"]
