"""reflow.plan"""
