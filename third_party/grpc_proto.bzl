"""cc_grpc_proto: C++ protobuf + gRPC code from a .proto, with Debian's protoc and plugin.

There is no com_google_protobuf repository offline, so this runs /usr/bin/protoc directly.
"""

def cc_grpc_proto(name, src, system_root = None, deps = [], grpc = True, **kwargs):
    """Generates <src>.pb.{h,cc} (and .grpc.pb.{h,cc}) and wraps them in a cc_library.

    Args:
      name: the cc_library's name.
      src: the .proto's import path, e.g. "isopool/v1/isopool.proto". Without system_root it
        is also its path inside this package. Generated headers are included by the same path
        ("isopool/v1/isopool.pb.h").
      system_root: an absolute directory holding src (e.g. /usr/share/grpc-proto), for protos
        that Debian ships rather than this repository.
      deps: other cc_grpc_proto libraries this proto imports.
      grpc: also generate the gRPC service code.
      **kwargs: passed to cc_library (visibility, ...).
    """
    base = src[:-len(".proto")]
    outs = [base + ".pb.h", base + ".pb.cc"]
    if grpc:
        outs += [base + ".grpc.pb.h", base + ".grpc.pb.cc"]
    plugin = " --plugin=protoc-gen-grpc=/usr/bin/grpc_cpp_plugin --grpc_out=$(@D)" if grpc else ""
    root = system_root if system_root else native.package_name()
    native.genrule(
        name = name + "_gen",
        srcs = [] if system_root else [src],
        outs = outs,
        cmd = "/usr/bin/protoc -I" + root + " --cpp_out=$(@D)" + plugin + " " + root + "/" + src,
    )
    native.cc_library(
        name = name,
        srcs = [o for o in outs if o.endswith(".cc")],
        hdrs = [o for o in outs if o.endswith(".h")],
        includes = ["."],
        deps = deps + ["@system//:protobuf"] + (["@system//:grpc++"] if grpc else []),
        **kwargs
    )
