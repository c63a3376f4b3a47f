"""Seed 001's StreamingProcessor on the Python reference framework (dataknobs-fsm), file to file.

Usage: python seed001_python.py INPUT.jsonl OUTPUT.jsonl [CHUNK_SIZE]
Prints one line: `python: N records in S s (R records/s)` and the framework's own statistics.
The configuration is seed 001's, verbatim.
"""

import asyncio
import json
import sys
import time

from dataknobs_fsm.api.async_simple import AsyncSimpleFSM


def create_streaming_fsm_config():
    return {
        'name': 'StreamingProcessor',
        'main_network': 'main',
        'networks': [{
            'name': 'main',
            'states': [
                {'name': 'input', 'is_start': True},
                {
                    'name': 'validate',
                    'functions': {
                        'transform': {
                            'type': 'inline',
                            'code': """lambda state: {
                                **state.data,
                                'valid': state.data.get('value') is not None
                                        and state.data.get('value') >= 0
                            }"""
                        }
                    }
                },
                {
                    'name': 'enrich',
                    'functions': {
                        'transform': {
                            'type': 'inline',
                            'code': """lambda state: {
                                'id': state.data['id'],
                                'original_value': state.data['value'],
                                'doubled_value': state.data['value'] * 2,
                                'squared_value': state.data['value'] ** 2,
                                'category': state.data['category'],
                                'status': 'enriched'
                            }"""
                        }
                    }
                },
                {
                    'name': 'categorize',
                    'functions': {
                        'transform': {
                            'type': 'inline',
                            'code': """lambda state: {
                                **state.data,
                                'value_tier': 'high' if state.data['original_value'] > 5000
                                            else 'medium' if state.data['original_value'] > 1000
                                            else 'low',
                                'status': 'processed',
                                'risk_score': min(100, state.data['squared_value'] / 100)
                            }"""
                        }
                    }
                },
                {'name': 'output', 'is_end': True},
                {'name': 'error', 'is_end': True},
            ],
            'arcs': [
                {'from': 'input', 'to': 'validate'},
                {
                    'from': 'validate',
                    'to': 'enrich',
                    'condition': {
                        'type': 'inline',
                        'code': "lambda state: state.data.get('valid', True)"
                    }
                },
                {
                    'from': 'validate',
                    'to': 'error',
                    'condition': {
                        'type': 'inline',
                        'code': "lambda state: not state.data.get('valid', True)"
                    }
                },
                {'from': 'enrich', 'to': 'categorize'},
                {'from': 'categorize', 'to': 'output'},
            ]
        }]
    }


async def main():
    source, sink = sys.argv[1], sys.argv[2]
    chunk_size = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    records = sum(1 for line in open(source) if line.strip())
    fsm = AsyncSimpleFSM(create_streaming_fsm_config())
    start = time.perf_counter()
    results = await fsm.process_stream(source=source, sink=sink, chunk_size=chunk_size, use_streaming=True)
    elapsed = time.perf_counter() - start
    print(f"python: {records} records in {elapsed:.2f} s ({records / elapsed:.0f} records/s)")
    print("python statistics:", json.dumps(results, default=str))


if __name__ == '__main__':
    asyncio.run(main())
