//! Compiles proto/*.proto to Rust with prost, using protox so no system protoc is needed.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/pim.proto",
        "proto/catalog.proto",
        "proto/fulfilment.proto",
        "proto/shoppers.proto",
        "proto/checkout.proto",
        "proto/cms.proto",
        "proto/web.proto",
    ];
    for file in files {
        println!("cargo:rerun-if-changed={file}");
    }
    let descriptors = protox::compile(files, ["proto"])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}
