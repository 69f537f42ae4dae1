"""The study tools, built on the training core at the top level: the comparison figures and
tables of finished runs (compare), the near-optimal-discriminator experiment (gradcheck), the
2-D experiments (toy) and the mechanism arms (mechanism). Each is a `python main.py --mode=`."""
