//! The stream's protobuf codec: prost with smaller per-stream buffers.
//!
//! tonic's default codec starts every stream with an 8 KiB encode and an 8 KiB
//! decode buffer. A hub holds one long-lived, mostly idle stream per member
//! cluster, and forecast messages are a few KiB, so 1 KiB buffers (which grow
//! on demand) keep the hub's memory per connected agent down.
use prost::Message;
use tonic::codec::{BufferSettings, Codec};
use tonic_prost::{ProstCodec, ProstDecoder, ProstEncoder};

const BUFFER_SIZE: usize = 1024;
/// As tonic's default: yield to the transport after 32 KiB of encoded messages.
const YIELD_THRESHOLD: usize = 32 * 1024;

#[derive(Debug, Clone, Copy)]
pub struct CompactCodec<T, U>(std::marker::PhantomData<(T, U)>);

impl<T, U> Default for CompactCodec<T, U> {
    fn default() -> Self {
        Self(std::marker::PhantomData)
    }
}

impl<T, U> Codec for CompactCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = ProstDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstCodec::<T, U>::raw_encoder(BufferSettings::new(BUFFER_SIZE, YIELD_THRESHOLD))
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstCodec::<T, U>::raw_decoder(BufferSettings::new(BUFFER_SIZE, YIELD_THRESHOLD))
    }
}
