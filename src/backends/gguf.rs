//! Reads a GGUF file's metadata header (architecture, quantization, context length) without
//! loading its weights. Used by `starling models` and `doctor`; never allocates tensors.

use std::io::Read;
use std::path::{Path, PathBuf};

use llama_cpp_2::gguf::GgufContext;

use crate::error::{Error, Result};

/// What a GGUF file says about itself.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModelInfo {
    pub path: PathBuf,
    pub size_bytes: u64,
    pub name: Option<String>,
    pub architecture: String,
    pub quantization: String,
    pub context_length: Option<u64>,
    pub has_chat_template: bool,
}

/// llama.cpp's `llama_ftype` numbers, as written in `general.file_type`.
fn file_type_name(code: u64) -> String {
    let name = match code {
        0 => "F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        7 => "Q8_0",
        8 => "Q5_0",
        9 => "Q5_1",
        10 => "Q2_K",
        11 => "Q3_K_S",
        12 => "Q3_K_M",
        13 => "Q3_K_L",
        14 => "Q4_K_S",
        15 => "Q4_K_M",
        16 => "Q5_K_S",
        17 => "Q5_K_M",
        18 => "Q6_K",
        19 => "IQ2_XXS",
        20 => "IQ2_XS",
        21 => "Q2_K_S",
        22 => "IQ3_XS",
        23 => "IQ3_XXS",
        24 => "IQ1_S",
        25 => "IQ4_NL",
        26 => "IQ3_S",
        27 => "IQ3_M",
        28 => "IQ2_S",
        29 => "IQ2_M",
        30 => "IQ4_XS",
        31 => "IQ1_M",
        32 => "BF16",
        36 => "TQ1_0",
        37 => "TQ2_0",
        38 => "MXFP4_MOE",
        other => return format!("type {other}"),
    };
    name.to_string()
}

fn integer(context: &GgufContext, key: &str) -> Option<u64> {
    let index = context.find_key(key);
    if index < 0 {
        return None;
    }
    // gguf_type: 0 u8, 1 i8, 2 u16, 3 i16, 4 u32, 5 i32, 10 u64, 11 i64.
    match context.kv_type(index) {
        4 => Some(u64::from(context.val_u32(index))),
        5 => u64::try_from(context.val_i32(index)).ok(),
        10 => Some(context.val_u64(index)),
        _ => None,
    }
}

/// Checks the file starts with the GGUF magic, so that a wrong file gets a clear message.
pub fn check_magic(path: &Path) -> Result<()> {
    let mut file = std::fs::File::open(path).map_err(|err| match err.kind() {
        std::io::ErrorKind::NotFound => Error::ModelMissing {
            path: path.to_path_buf(),
        },
        _ => Error::io(format!("cannot open model `{}`", path.display()), err),
    })?;
    let mut magic = [0u8; 4];
    if file.read_exact(&mut magic).is_err() || &magic != b"GGUF" {
        return Err(Error::ModelLoad {
            path: path.to_path_buf(),
            message: "not a GGUF file (bad magic); pass a .gguf model with --model".into(),
        });
    }
    Ok(())
}

impl ModelInfo {
    /// Reads the header of the GGUF file at `path`.
    pub fn read(path: &Path) -> Result<ModelInfo> {
        check_magic(path)?;
        let size_bytes = std::fs::metadata(path)
            .map_err(|err| Error::io(format!("cannot stat `{}`", path.display()), err))?
            .len();
        let context = GgufContext::from_file(path).ok_or_else(|| Error::ModelLoad {
            path: path.to_path_buf(),
            message: "the GGUF header cannot be parsed (truncated or corrupt file); fetch it again"
                .into(),
        })?;
        let text = |key: &str| {
            let index = context.find_key(key);
            (index >= 0)
                .then(|| context.val_str(index).map(str::to_string))
                .flatten()
        };
        let architecture = text("general.architecture").unwrap_or_else(|| "unknown".into());
        Ok(ModelInfo {
            path: path.to_path_buf(),
            size_bytes,
            name: text("general.name"),
            quantization: integer(&context, "general.file_type")
                .map(file_type_name)
                .unwrap_or_else(|| "unknown".into()),
            context_length: integer(&context, &format!("{architecture}.context_length")),
            has_chat_template: context.find_key("tokenizer.chat_template") >= 0,
            architecture,
        })
    }
}
